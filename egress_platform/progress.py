"""Progress of a long step, as log lines a runner can draw as a bar (and Dagit shows in the run).

A step reports ``progress <done>/<total> <what>`` through whatever logs for it (Dagster's
``context.log.info`` in an asset or IO manager); about twenty lines a step, whatever its size.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PREFIX = "progress"
LINES_PER_STEP = 20
_LINE = re.compile(rf"^{PREFIX} (\d+)/(\d+) (.+)$")


def report_progress(log: Callable[[str], object], done: int, total: int, what: str) -> None:
    """Say ``done`` of ``total`` (``what``: e.g. "partitions written"), about twenty times."""
    if total <= 0:
        return
    every = max(1, total // LINES_PER_STEP)
    if done == total or done % every == 0:
        log(f"{PREFIX} {done}/{total} {what}")


def parse_progress(message: str) -> tuple[int, int, str] | None:
    """(done, total, what) of a progress line, None for any other message."""
    found = _LINE.match(message)
    return (int(found[1]), int(found[2]), found[3]) if found else None
