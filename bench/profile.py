"""Sample a server under test with py-spy and say where its CPU went, by package and by function.

Only stacks holding the GIL are kept (`--gil`), so the figures are CPU spent in Python, not waiting.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


class Profiler:
    """`py-spy record` on one process for the duration of a `with` block."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out = pid, out
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        exe = shutil.which("py-spy") or str(Path(__import__("sys").executable).with_name("py-spy"))
        if not Path(exe).exists():
            raise RuntimeError("--profile needs py-spy: pip install -e '.[bench]'")
        self.proc = subprocess.Popen(  # noqa: S603 - our own arguments
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--gil",
                "--nonblocking",
                "--rate",
                "200",
                "--full-filenames",
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _package(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/oauth_service/" in path:
        return "oauth_service." + path.split("/oauth_service/", 1)[1].split("/", 1)[0].removesuffix(".py")
    name = Path(path).name.removesuffix(".py")
    parent = Path(path).parent.name
    return (
        f"stdlib:{parent}" if parent in ("asyncio", "json", "email", "http", "logging") else f"stdlib:{name}"
    )


def summarise(raws: list[Path], top: int = 15) -> str:
    """Inclusive share per package and self share per function, as Markdown lists."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in (line for raw in raws if raw.exists() for line in raw.read_text().splitlines()):
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [m for part in stack.split(";") if (m := _FRAME.match(part.strip()))]
        if not frames:
            continue
        total += count
        for package in {_package(m["file"]) for m in frames}:
            inclusive[package] += count
        last = frames[-1]
        leaf[f"{last['func']} ({_package(last['file'])})"] += count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples holding the GIL. Inclusive share by package:"]
    lines += [f"- {name}: {100 * n / total:.0f} %" for name, n in inclusive.most_common(top)]
    lines.append("\nSelf share by function:")
    lines += [f"- {name}: {100 * n / total:.1f} %" for name, n in leaf.most_common(top)]
    return "\n".join(lines)
