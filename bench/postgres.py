"""A throwaway PostgreSQL cluster in a temporary folder, on a free TCP port.

Debian's PostgreSQL binaries rather than the embedded `pgserver`: the service talks to
PostgreSQL over TCP in production, and `pgserver` listens on a unix socket only. PostgreSQL
refuses to run as root, so as root the cluster belongs to the `postgres` system user.
"""

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.system import free_port, install_with_apt

SERVER_USER = "postgres"
# Three apps of two workers share the cluster; the service's pools alone may open 60.
MAX_CONNECTIONS = 200


@dataclass(frozen=True)
class Cluster:
    url: str
    bin_dir: Path

    def version(self) -> str:
        return (
            subprocess.run(
                [self.bin_dir / "postgres", "--version"], capture_output=True, text=True, check=True
            )
            .stdout.removeprefix("postgres (PostgreSQL) ")
            .strip()
        )


def _installed_bin_dirs() -> list[Path]:
    """Debian's layout, `/usr/lib/postgresql/<major>/bin`, newest last."""
    found = [Path(pg_ctl).parent for pg_ctl in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    return sorted(found, key=lambda bin_dir: int(bin_dir.parent.name))


def _bin_dir() -> Path:
    if not _installed_bin_dirs():
        install_with_apt("postgresql")
    found = _installed_bin_dirs()
    if not found:
        raise SystemExit("bench: PostgreSQL server binaries not found under /usr/lib/postgresql")
    return found[-1]


def _as_server_user(command: list[str | Path]) -> list[str | Path]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


@contextmanager
def temporary_cluster() -> Iterator[Cluster]:
    bin_dir = _bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="taskapi-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, SERVER_USER)
    data, port = folder / "data", free_port()

    def run(*command: str | Path) -> None:
        subprocess.run(_as_server_user([*command]), check=True, stdout=subprocess.DEVNULL)

    try:
        run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        options += f" -c max_connections={MAX_CONNECTIONS}"
        run(
            bin_dir / "pg_ctl",
            "-D",
            data,
            "-l",
            folder / "server.log",
            "-o",
            options,
            "-w",
            "start",
        )
        try:
            yield Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", bin_dir)
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
