"""Apache Kafka without Docker: the broker's jars from Maven Central, run with the machine's Java.

``deploy/kafka/pom.xml`` pins the Kafka version; :func:`resolve` has Maven copy the broker's
run-time class path into a folder once (``.fireline/kafka/<version>/libs``), and
:class:`KafkaCluster` formats KRaft storage and starts nodes as ``java -cp <libs>/* kafka.Kafka
<properties>``: one combined broker+controller for ``make run`` and most tests, a three-node KRaft
quorum (each node broker and controller) for the replication and failover tests.

A node's log directory survives :meth:`KafkaCluster.stop`, :meth:`KafkaCluster.kill` and a
restart, exactly as a deployed broker's volume does: topics, records and committed offsets stay.

Given :class:`KafkaUsers`, a cluster authenticates and authorises every connection:

* clients and the brokers among themselves use one SASL/SCRAM-SHA-512 listener. The SCRAM users
  (one per service, and ``admin``, the nodes' own principal) are written into the metadata log
  when the storage is formatted (the storage tool's ``--add-scram``), so they exist before the
  first start and cost no start-up time;
* the controller listener uses SASL/PLAIN with a credential only the nodes know, from their own
  properties file. SCRAM cannot serve there: its credentials live in the metadata log the
  controllers serve, which a node must reach before it could check one. Both listeners bind to
  loopback; a deployment across machines puts them on a private network and TLS;
* the StandardAuthorizer denies whatever no ACL allows, with ``admin`` as its only super user;
  the ACLs are Fireline's (:mod:`fireline_runtime.kafka_acls`), created once the nodes are up.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fireline_devtools.net import free_port

ROOT = Path(__file__).resolve().parents[3]
POM = ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J_CONFIG = ROOT / "deploy" / "kafka" / "log4j2.properties"

STARTED_LINE = "Kafka Server started"
"""What KafkaRaftServer logs once the node's broker is registered, unfenced and serving."""

DEFAULT_HEAP = "512m"
"""Per node. Kafka's own default is 1 GiB; local runs and tests hold little data."""


SCRAM = "SCRAM-SHA-512"
ADMIN = "admin"
"""The nodes' own principal (inter-broker and controller connections) and the only super user."""


@dataclass(frozen=True)
class KafkaUsers:
    """The SCRAM users of a cluster: user name -> password; ``admin`` among them."""

    passwords: dict[str, str] = field(repr=False)

    @classmethod
    def generate(cls, names: Iterable[str]) -> KafkaUsers:
        return cls({name: secrets.token_hex(16) for name in (ADMIN, *names)})

    @classmethod
    def kept_in(cls, path: Path, names: Iterable[str]) -> KafkaUsers:
        """The users stored at ``path`` (a local broker's, kept beside its data), else new ones
        written there; a name missing from the file is added."""
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        wanted = {**cls.generate(names).passwords, **stored}
        if wanted != stored:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(wanted, indent=2))
            path.chmod(0o600)
        return cls(wanted)

    def password(self, name: str) -> str:
        return self.passwords[name]

    def scram_arguments(self) -> list[str]:
        """The storage tool's ``--add-scram`` options: every user, created at format time."""
        options = []
        for name, password in self.passwords.items():
            options += ["--add-scram", f"{SCRAM}=[name={name},password={password}]"]
        return options


class KafkaUnavailable(RuntimeError):
    """Java or Maven is missing, or Maven could not resolve the broker."""


def pinned_version(pom: Path = POM) -> str:
    """The Kafka version ``deploy/kafka/pom.xml`` pins (``<kafka.version>``)."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if found is None:
        raise KafkaUnavailable(f"{pom} does not pin <kafka.version>")
    return found.group(1).strip()


def java_binary() -> str:
    """``$JAVA_HOME/bin/java``, else ``java`` on the PATH; Kafka 4 needs Java 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise KafkaUnavailable("no Java found (set JAVA_HOME or put java on the PATH)")
    out = subprocess.run(  # noqa: S603 - the machine's own Java
        [candidate, "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    if match is None or int(match.group(1)) < 17:
        raise KafkaUnavailable(f"Apache Kafka 4 needs Java 17 or newer; {candidate} is not")
    return candidate


@dataclass(frozen=True)
class KafkaDistribution:
    """The broker's class path for one pinned version."""

    version: str
    libs: Path
    java: str

    @property
    def classpath(self) -> str:
        return f"{self.libs}/*"


def resolve(cache_dir: Path, *, show_progress: bool = False) -> KafkaDistribution:
    """The pinned version's jars, resolved with Maven into ``cache_dir/<version>/libs`` once.

    The folder is filled under a temporary name and renamed when Maven succeeded, so a run
    interrupted mid-download never leaves a half class path that a later run would trust.
    """
    java = java_binary()
    version = pinned_version()
    target = cache_dir / version / "libs"
    if (target / ".complete").exists():
        return KafkaDistribution(version, target, java)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable("Apache Maven (mvn) is not on the PATH")
    partial = target.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        mvn,
        "--batch-mode",
        "--file",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}",
        "-DincludeScope=runtime",
    ]
    if not show_progress:
        command.insert(1, "--quiet")
    done = subprocess.run(  # noqa: S603 - the machine's Maven on the project's own pom
        command,
        stdout=None if show_progress else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stdout or "")[-2000:]
        raise KafkaUnavailable(f"Maven could not resolve Apache Kafka {version}: {tail}")
    (partial / ".complete").write_text(version)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return KafkaDistribution(version, target, java)


@dataclass
class KafkaNode:
    """One KRaft node (broker and controller in one process)."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def properties_path(self) -> Path:
        return self.data_dir.parent / f"node-{self.node_id}.properties"


def security_properties(node: KafkaNode, users: KafkaUsers) -> dict[str, str]:
    """SASL on both listeners and the authorizer (the module's docstring says why each)."""
    admin = users.password(ADMIN)
    scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain_login = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return {
        "listeners": (
            f"BROKER://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"BROKER://{node.address}",
        "listener.security.protocol.map": "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name": "BROKER",
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "listener.name.broker.scram-sha-512.sasl.jaas.config": (
            f'{scram_login} required username="{ADMIN}" password="{admin}";'
        ),
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            f'{plain_login} required username="{ADMIN}" password="{admin}" user_{ADMIN}="{admin}";'
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN}",
        "allow.everyone.if.no.acl.found": "false",
    }


def node_properties(
    node: KafkaNode, voters: str, cluster_size: int, users: KafkaUsers | None = None
) -> dict[str, str]:
    """A node's broker properties; internal topics replicate as far as the cluster allows."""
    internal_rf = str(min(3, cluster_size))
    internal_isr = str(min(2, cluster_size))
    properties = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://{node.address}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(node.data_dir),
        # Services create their topics explicitly, with the partitions, replication factor and
        # min.insync.replicas of their settings; a typo must fail, not create a topic.
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": internal_rf,
        "transaction.state.log.replication.factor": internal_rf,
        "transaction.state.log.min.isr": internal_isr,
        "share.coordinator.state.topic.replication.factor": internal_rf,
        "share.coordinator.state.topic.min.isr": internal_isr,
        # 50 offsets partitions (the default) cost seconds of leader elections on the first group
        # join of every fresh test broker on two cores; ten are plenty for a handful of groups.
        "offsets.topic.num.partitions": "10",
        # A group's first member need not wait three seconds for others that are not coming.
        "group.initial.rebalance.delay.ms": "0",
        # A killed node is fenced, and its partitions' leadership moves, after this long.
        "broker.session.timeout.ms": "6000",
        "broker.heartbeat.interval.ms": "1000",
    }
    if users is not None:
        properties |= security_properties(node, users)
    return properties


class KafkaCluster:
    """``size`` KRaft nodes on loopback, each both broker and controller.

    ``ports`` fixes a node's (broker, controller) ports; others get free ones.
    ``properties`` replaces the launcher's own configuration of a one-node cluster altogether
    (only ``log.dirs`` is set to the node's folder): how a given file, such as the compose
    file's, is booted as it stands.
    Node logs go to ``log_dir`` (default: beside each node's data), which :meth:`destroy` keeps.
    ``users`` turns authentication and authorisation on (the module's docstring).
    """

    def __init__(
        self,
        distribution: KafkaDistribution,
        base_dir: Path,
        *,
        size: int = 1,
        heap: str = DEFAULT_HEAP,
        ports: dict[int, tuple[int, int]] | None = None,
        cluster_id: str | None = None,
        log_dir: Path | None = None,
        properties: dict[str, str] | None = None,
        users: KafkaUsers | None = None,
    ) -> None:
        self.distribution = distribution
        self.users = users
        self.base_dir = base_dir
        self.heap = heap
        self.cluster_id = cluster_id or _cluster_id()
        self.nodes: dict[int, KafkaNode] = {}
        for node_id in range(1, size + 1):
            port, controller_port = (ports or {}).get(node_id, (free_port(), free_port()))
            self.nodes[node_id] = KafkaNode(
                node_id=node_id,
                port=port,
                controller_port=controller_port,
                data_dir=base_dir / f"node-{node_id}" / "data",
                log_path=(log_dir or base_dir / f"node-{node_id}") / f"kafka-node{node_id}.log",
            )
        if properties is not None and size != 1:
            raise ValueError("exact properties describe one node")
        self.properties = properties
        self._formatted = False

    @property
    def version(self) -> str:
        return self.distribution.version

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes.values())

    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes.values())

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 300.0) -> str:
        """Format (the first time) and start every node; returns the bootstrap servers.

        A node starts in about five seconds on an idle machine; three starting together beside
        a busy suite on two cores have been seen to take over two minutes, hence the long wait.
        """
        if not self._formatted:
            for node in self.nodes.values():
                self._format(node)
            self._formatted = True
        for node in self.nodes.values():
            self._launch(node)
        self.wait_started(self.nodes.values(), timeout)
        return self.bootstrap

    def stop(self) -> None:
        """Stop every node (SIGTERM: a controlled shutdown that moves leadership first)."""
        for node in self.nodes.values():
            self._signal(node, signal.SIGTERM)
        for node in self.nodes.values():
            self._reap(node, 30.0)

    def kill(self, node_id: int) -> None:
        """kill -9 one node: no controlled shutdown, as when a machine dies."""
        node = self.nodes[node_id]
        self._signal(node, signal.SIGKILL)
        self._reap(node, 10.0)

    def start_node(self, node_id: int, timeout: float = 300.0) -> None:
        """Start a stopped or killed node again on its log directory."""
        node = self.nodes[node_id]
        self._launch(node)
        self.wait_started([node], timeout)

    def destroy(self) -> None:
        """Stop and delete every node's data."""
        for node in self.nodes.values():
            self._signal(node, signal.SIGKILL)
            self._reap(node, 10.0)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def wait_started(self, nodes: Iterable[KafkaNode], timeout: float) -> None:
        pending = list(nodes)
        deadline = time.monotonic() + timeout
        offsets = {n.node_id: _this_launch(n.log_path) for n in pending}
        while pending:
            for node in list(pending):
                if node.proc is not None and node.proc.poll() is not None:
                    raise RuntimeError(
                        f"Kafka node {node.node_id} exited with code {node.proc.returncode}; "
                        f"see {node.log_path}"
                    )
                if STARTED_LINE in _read_from(node.log_path, offsets[node.node_id]):
                    pending.remove(node)
            if time.monotonic() > deadline:
                names = ", ".join(str(n.node_id) for n in pending)
                raise TimeoutError(f"Kafka node(s) {names} not started after {timeout:.0f}s")
            time.sleep(0.1)

    # -- internals ------------------------------------------------------------------------------

    def _write_properties(self, node: KafkaNode) -> Path:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        if self.properties is not None:
            props = {**self.properties, "log.dirs": str(node.data_dir)}
        else:
            props = node_properties(node, self.voters, len(self.nodes), self.users)
        node.properties_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        node.properties_path.chmod(0o600)  # it holds the nodes' own credential
        return node.properties_path

    def _java(self, node: KafkaNode, main: str, *args: str) -> list[str]:
        return [
            self.distribution.java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            self.distribution.classpath,
            main,
            *args,
        ]

    def _format(self, node: KafkaNode) -> None:
        properties = self._write_properties(node)
        if (node.data_dir / "meta.properties").exists():
            return
        done = subprocess.run(  # noqa: S603 - the machine's Java on the resolved Kafka jars
            self._java(
                node,
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                self.cluster_id,
                "--config",
                str(properties),
                "--ignore-formatted",
                *(self.users.scram_arguments() if self.users else ()),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # the reason for a refusal is printed on stderr
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"formatting Kafka node {node.node_id} failed: {done.stdout[-2000:]}"
            )

    def _launch(self, node: KafkaNode) -> None:
        if node.running:
            return
        properties = self._write_properties(node)
        node.log_path.parent.mkdir(parents=True, exist_ok=True)
        with node.log_path.open("ab") as out:
            out.write(f"--- launch {time.strftime('%H:%M:%S')} ---\n".encode())
            out.flush()
            node.proc = subprocess.Popen(  # noqa: S603 - the machine's Java on Kafka's jars
                self._java(node, "kafka.Kafka", str(properties)),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in make run reaches us; we stop nodes in order
            )

    @staticmethod
    def _signal(node: KafkaNode, sig: signal.Signals) -> None:
        if node.running and node.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                node.proc.send_signal(sig)

    @staticmethod
    def _reap(node: KafkaNode, timeout: float) -> None:
        if node.proc is None:
            return
        try:
            node.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(10)


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding (22 characters).

    Never one that starts with ``-``: the storage tool would read it as an option (one id in 64;
    Kafka's own ``Uuid.randomUuid`` skips those for the same reason).
    """
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


def _this_launch(path: Path) -> int:
    """Where the latest launch's output starts in a node's log: the marker _launch wrote."""
    if not path.exists():
        return 0
    return max(path.read_bytes().rfind(b"--- launch "), 0)


def _read_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")
