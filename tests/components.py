"""Real components the tests start themselves, in temporary folders, once per test session:
scratch PostgreSQL servers (TLS, a streaming replica) and PgBouncer in transaction mode.

PostgreSQL's programs and PgBouncer come from the system (`apt-get install postgresql
pgbouncer`: pgserver's bundled PostgreSQL has no TLS). Both refuse to run as root, so as root
they run as pgserver's system user.
"""

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pgserver.utils import ensure_user_exists
from sqlalchemy import text
from sqlalchemy.engine import make_url

from persistence.database import make_engine
from persistence.migrate import alembic_config
from tests.helpers import free_port

# Debian's layout, newest version first
POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: -int(p.parent.name))
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
START_SECONDS = 60


def _service_user() -> str | None:
    """Who runs the servers: this user, or pgserver's system user when this is root."""
    if os.geteuid() != 0:
        return None
    return ensure_user_exists("pgserver").pw_name


def _postgres_program(name: str) -> Path:
    if not POSTGRES_BINS:
        pytest.fail("PostgreSQL's server programs are needed: apt-get install postgresql")
    return POSTGRES_BINS[0] / name


def _run_as_service_user(*command: str | Path) -> None:
    subprocess.run(
        [str(part) for part in command],
        user=_service_user(),
        check=True,
        capture_output=True,
        timeout=START_SECONDS,
    )


def _private_folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if user := _service_user():
        shutil.chown(folder, user)
    return folder


@dataclass
class ScratchPostgres:
    """A PostgreSQL server in a temporary folder, on 127.0.0.1 only, trusting local clients."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", **query: str) -> str:
        params = "&".join(f"{key}={value}" for key, value in query.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}" + (
            f"?{params}" if params else ""
        )

    @classmethod
    def create(cls, prefix: str, **settings: str) -> "ScratchPostgres":
        server = cls(_private_folder(prefix), free_port())
        _run_as_service_user(
            _postgres_program("initdb"), "-D", server.data, "-U", "postgres", "--auth=trust"
        )
        server.configure(settings)
        return server

    @classmethod
    def replica_of(cls, primary: "ScratchPostgres") -> "ScratchPostgres":
        """A streaming replica: a base backup of `primary` that follows it (`-R`)."""
        server = cls(_private_folder("taskapi-replica-"), free_port())
        _run_as_service_user(
            _postgres_program("pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", server.data, "-R", "-X", "stream"),
        )
        server.configure({})
        return server

    def configure(self, settings: dict[str, str]) -> None:
        base = {"port": str(self.port), "listen_addresses": "'127.0.0.1'"}
        base |= {"unix_socket_directories": f"'{self.folder}'"}
        lines = [f"{key} = {value}" for key, value in (base | settings).items()]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def allow(self, *hba_lines: str) -> None:
        """Replace pg_hba.conf: only these lines let anyone in."""
        hba = self.data / "pg_hba.conf"
        hba.write_text("local all all trust\n" + "\n".join(hba_lines) + "\n")

    def start(self) -> None:
        log = self.folder / "log"
        try:
            _run_as_service_user(
                _postgres_program("pg_ctl"), "-D", self.data, "-l", log, "-w", "start"
            )
        except subprocess.CalledProcessError:
            pytest.fail(f"PostgreSQL did not start:\n{log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        _run_as_service_user(
            _postgres_program("pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"
        )

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- certificates ------------------------------------------------------------------------------


@dataclass
class Certificates:
    ca: Path  # the CA that signed the server's certificate
    other_ca: Path  # a CA that signed nothing the server has
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _sign(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _self_signed_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _sign(name, key, (name, key))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, ca


def make_certificates(folder: Path) -> Certificates:
    """A CA, a server certificate it signs for localhost and 127.0.0.1, and an unrelated CA."""
    ca_key, ca = _self_signed_ca("taskapi test CA")
    _, other_ca = _self_signed_ca("some other CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        _sign("localhost", server_key, ("taskapi test CA", ca_key))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    certificates = Certificates(
        ca=folder / "ca.pem",
        other_ca=folder / "other-ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
    )
    certificates.ca.write_bytes(_pem(ca))
    certificates.other_ca.write_bytes(_pem(other_ca))
    certificates.server_cert.write_bytes(_pem(server))
    certificates.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    certificates.server_key.chmod(0o600)  # PostgreSQL refuses a key others can read
    if user := _service_user():
        shutil.chown(certificates.server_key, user)
    return certificates


# --- PgBouncer ---------------------------------------------------------------------------------


@dataclass
class PgBouncer:
    """PgBouncer in transaction mode (no prepared-statement support), in front of a server."""

    folder: Path
    port: int
    process: subprocess.Popen

    def url(self, database: str, user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls, target_url: str) -> "PgBouncer":
        if not Path(PGBOUNCER).exists():
            pytest.fail("PgBouncer is needed: apt-get install pgbouncer")
        target = make_url(target_url)
        # A unix-socket URL (the embedded PostgreSQL) names its folder in `?host=`.
        host = target.host or target.query["host"]
        folder = _private_folder("taskapi-pgbouncer-")
        port = free_port()
        (folder / "users.txt").write_text(f'"{target.username}" ""\n')
        (folder / "pgbouncer.ini").write_text(
            "\n".join(
                [
                    "[databases]",
                    f"* = host={host} port={target.port or 5432}",
                    "[pgbouncer]",
                    "listen_addr = 127.0.0.1",
                    f"listen_port = {port}",
                    "unix_socket_dir =",
                    "auth_type = trust",
                    f"auth_file = {folder / 'users.txt'}",
                    "pool_mode = transaction",
                    # Few server connections for many clients: statements meet other
                    # sessions' connections all the time, as on a busy Neon pooler.
                    "default_pool_size = 4",
                    "max_client_conn = 500",
                    f"logfile = {folder / 'pgbouncer.log'}",
                ]
            )
            + "\n"
        )
        process = subprocess.Popen(
            [PGBOUNCER, str(folder / "pgbouncer.ini")],
            user=_service_user(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        bouncer = cls(folder, port, process)
        bouncer._wait_until_listening()
        return bouncer

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        log = (self.folder / "pgbouncer.log").read_text(errors="replace")
        self.stop()
        pytest.fail(f"PgBouncer did not start:\n{log}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


# --- session fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pgbouncer(database_url: str, engine) -> Iterator[PgBouncer]:
    """PgBouncer in front of the test database (migrated by `engine`)."""
    bouncer = PgBouncer.start(database_url)
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="session")
def certificates() -> Iterator[Certificates]:
    folder = _private_folder("taskapi-certs-")  # the server reads its key from here
    yield make_certificates(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_postgres(certificates: Certificates) -> Iterator[ScratchPostgres]:
    """PostgreSQL that takes TLS connections only, with a certificate from `certificates.ca`."""
    server = ScratchPostgres.create(
        "taskapi-tls-",
        ssl="on",
        ssl_cert_file=f"'{certificates.server_cert}'",
        ssl_key_file=f"'{certificates.server_key}'",
    )
    server.allow("hostssl all all 127.0.0.1/32 trust")
    server.start()
    yield server
    server.remove()


@dataclass
class ReplicatedPostgres:
    primary: ScratchPostgres
    replica: ScratchPostgres


@pytest.fixture(scope="session")
def replicated_postgres() -> Iterator[ReplicatedPostgres]:
    """A primary and a streaming replica of it, each on its own port."""
    primary = ScratchPostgres.create("taskapi-primary-")
    primary.allow("host all all 127.0.0.1/32 trust", "host replication all 127.0.0.1/32 trust")
    primary.start()
    replica = ScratchPostgres.replica_of(primary)
    replica.start()
    yield ReplicatedPostgres(primary, replica)
    replica.remove()
    primary.remove()


@pytest.fixture
async def empty_database(engine) -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped afterwards."""
    name = f"empty_{uuid.uuid4().hex[:8]}"
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield engine.url.set(database=name).render_as_string(hide_password=False)
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))


HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


async def schema_revision(url: str) -> str | None:
    """The Alembic revision a database is at (None before the first migration)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(text("SELECT to_regclass('alembic_version')"))
            if exists is None:
                return None
            return await connection.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        await engine.dispose()
