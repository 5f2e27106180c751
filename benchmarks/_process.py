"""What the viewer benchmarks share: memory of this process, and one measured run in a
fresh process whose last JSON line on stdout is its result."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from typing import Any


def rss_mb() -> float:
    """Resident memory now."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_result(
    command: list[str], what: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run command (with these environment variables added) and return the JSON object it
    printed last; fail naming what ran."""
    environment = {**os.environ, **env} if env else None
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"{what} run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
