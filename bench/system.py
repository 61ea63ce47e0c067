"""What the harness needs from the machine: free ports, missing tools, and its description."""

import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install_with_apt(package: str) -> None:
    if shutil.which("apt-get") is None:
        raise SystemExit(f"bench: {package} is missing and there is no apt-get to install it")
    print(f"bench: installing {package} with apt-get")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True)


def require_command(command: str, package: str) -> str:
    if shutil.which(command) is None:
        install_with_apt(package)
    path = shutil.which(command)
    if path is None:
        raise SystemExit(f"bench: {command} not found after installing {package}")
    return path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def describe_machine() -> dict[str, str]:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{_memory_gib():.1f} GiB",
        "CPU": _cpu_model(),
        "kernel": platform.release(),
        "load average at start (1, 5, 15 min)": load,
    }
