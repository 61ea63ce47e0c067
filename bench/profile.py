"""Where one worker's time goes: py-spy samples while wrk drives one workload, summarised as
time by package, the hottest functions, and the flame graph's heavy branches as text."""

import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import LoadSettings, wrk
from bench.servers import Server

SAMPLES_PER_SECOND = 200
TOP = 12
MIN_BRANCH_SHARE = 3.0  # percent of samples; thinner branches are left out of the tree
MAX_TREE_LINES = 45
PROJECT_PACKAGES = ("service", "commands", "queries", "persistence")


@dataclass
class _Node:
    count: int = 0
    children: dict[str, "_Node"] = field(default_factory=dict)


@dataclass(frozen=True)
class Flame:
    samples: int
    by_package: list[tuple[str, float]]  # share of samples running each package's own code
    by_function: list[tuple[str, float]]  # share of samples running each function's own code
    tree: list[str]  # heavy branches, one frame a line, pass-through frames folded


def _py_spy() -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("bench: uv is needed to run py-spy (`uv tool run py-spy`)")
    return [uv, "tool", "run", "py-spy"]


def py_spy_version() -> str:
    done = subprocess.run([*_py_spy(), "--version"], capture_output=True, text=True, check=True)
    return done.stdout.split()[-1]


def _function(frame: str) -> str:
    """`name (path/to/file.py:12)` -> `name (path/to/file.py)`, so one function's lines add up."""
    name, _, location = frame.partition(" (")
    return f"{name} ({location.rpartition(':')[0]})"


def _package(function: str) -> str:
    """py-spy names files relative to their `sys.path` entry, so the first part is the package
    (or the standard library's module)."""
    top = function.partition(" (")[2].rstrip(")").split("/", 1)[0].removesuffix(".py")
    return f"taskapi ({top})" if top in PROJECT_PACKAGES else top


def _tree_lines(node: _Node, name: str, total: int, depth: int, lines: list[str]) -> None:
    folded = 0
    while True:  # fold frames that only pass the call on
        heavy = [
            (n, c) for n, c in node.children.items() if c.count * 100 / total >= MIN_BRANCH_SHARE
        ]
        if len(heavy) != 1 or heavy[0][1].count < node.count * 0.97:
            break
        name, node = heavy[0]
        folded += 1
    if len(lines) >= MAX_TREE_LINES:
        return
    note = f"  [{folded} frames folded above]" if folded > 1 else ""
    lines.append(f"{'  ' * depth}{node.count * 100 / total:5.1f}%  {name}{note}")
    for child_name, child in sorted(heavy, key=lambda item: -item[1].count):
        _tree_lines(child, child_name, total, depth + 1, lines)


def summarise(raw: str) -> Flame:
    """From py-spy's raw (collapsed) output: `frame;frame;...;frame count` per line."""
    root = _Node()
    packages: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        packages[_package(frames[-1])] += count
        functions[frames[-1]] += count
        node = root
        node.count += count
        for frame in frames:
            node = node.children.setdefault(frame, _Node())
            node.count += count
    share = 100 / max(root.count, 1)
    tree: list[str] = []
    _tree_lines(root, "all samples", max(root.count, 1), 0, tree)
    return Flame(
        samples=root.count,
        by_package=[(name, count * share) for name, count in packages.most_common(TOP)],
        by_function=[(name, count * share) for name, count in functions.most_common(TOP)],
        tree=tree,
    )


def profile(server: Server, workload: str, data: Path, load: LoadSettings, out: Path) -> Flame:
    """Samples the server's only worker for the length of one measured wrk run."""
    (pid,) = server.worker_pids()
    wrk(server.base_url, workload, data, load, load.warmup)
    command = [*_py_spy(), "record", "--pid", str(pid), "--duration", str(load.duration)]
    command += ["--rate", str(SAMPLES_PER_SECOND), "--format", "raw", "--output", str(out)]
    command += ["--nonblocking"]  # sample without pausing the worker
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)  # let py-spy attach before the load starts
    wrk(server.base_url, workload, data, load, load.duration)
    _, errors = recorder.communicate()
    if recorder.returncode != 0:
        raise SystemExit(f"bench: py-spy failed: {errors.decode().strip()}")
    return summarise(out.read_text())
