"""``egress dev``: Dagit and the daemon (``dagster dev``) on the lake, stopped on the first signal.

``dagster dev`` started from a script or from make does not stop on SIGTERM (it ignored it for
over a minute here), and when make is sent SIGTERM it dies alone, leaving the webserver, the
daemon and the code servers running. So ``dagster dev`` runs here as its own process group,
and the first SIGTERM, SIGINT or SIGHUP, or the end of the process that started us (make),
sends that group the interrupt it handles (Ctrl-C: about 6 s to stop everything), then SIGKILL
if it has not stopped within the grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 20.0
PARENT_POLL_SECONDS = 0.5
# `dagster dev` says it is superseded by `dg dev` (another package): true, and not the user's
# concern; the launcher keeps it off the terminal (message filters are literal prefixes).
QUIET = "ignore:Function `dev_command` is superseded"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _default_interrupts() -> None:
    # A background job of a non-interactive shell starts with SIGINT ignored; Dagster needs it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def dagster_dev_command(workspace: Path, host: str = "127.0.0.1", port: int = 3000) -> list[str]:
    script = Path(sys.executable).with_name("dagster")
    return [str(script), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]


def run_dev(
    command: list[str],
    parent_pid: int | None = None,
    grace: float = GRACE_SECONDS,
    say: Callable[[str], None] = print,
) -> int:
    """Run ``command`` (``dagster dev ...``) until it ends or we are told to stop; its code."""
    warnings = os.environ.get("PYTHONWARNINGS")
    env = {**os.environ, "PYTHONWARNINGS": f"{warnings},{QUIET}" if warnings else QUIET}
    child = subprocess.Popen(
        command, env=env, start_new_session=True, preexec_fn=_default_interrupts
    )
    stopping = threading.Event()

    def stop(reason: str) -> None:
        if stopping.is_set():
            return
        stopping.set()
        say(f"egress dev: {reason}; stopping Dagit and the daemon ...")
        _signal_group(child.pid, signal.SIGINT)
        try:
            child.wait(grace)
        except subprocess.TimeoutExpired:
            say(f"egress dev: not stopped after {grace:.0f} s; killing it")
            _signal_group(child.pid, signal.SIGKILL)
        else:
            _signal_group(child.pid, signal.SIGKILL)  # anything of it still left behind

    def on_signal(number: int, _frame: FrameType | None) -> None:
        threading.Thread(target=stop, args=(signal.Signals(number).name,), daemon=True).start()

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, on_signal)
    if parent_pid:

        def watch_parent() -> None:
            while not stopping.is_set() and child.poll() is None:
                if not _alive(parent_pid):
                    stop(f"the process that started it ({parent_pid}) has ended")
                    return
                stopping.wait(PARENT_POLL_SECONDS)

        threading.Thread(target=watch_parent, daemon=True).start()
    code = child.wait()
    if stopping.is_set():
        # Wait (bounded) for stop() to finish its clean-up before we return.
        for _ in range(int((grace + 5) * 10)):
            if not _group_alive(child.pid):
                break
            time.sleep(0.1)
        return 0
    return code


def _signal_group(pgid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, number)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True
