"""What `egress run` records in the lake between runs: the partition start and the landing index.

``state/partitions.json`` holds the first landed day (the partitions start there);
``state/landing_index.json`` the digest of every source partition's landed objects as of the last
successful run, so the next run knows what is new or changed. Both are written atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from egress_platform.settings import Settings
from egress_platform.store import Store
from resources.storage import LocalStore, S3Store

PARTITIONS_KEY = "state/partitions.json"
LANDING_INDEX_KEY = "state/landing_index.json"
LOCK_KEY = "state/run.lock"
S3_LOCK_LEASE = timedelta(hours=6)  # an S3 lock left by a killed run is taken over after this


class LakeBusy(RuntimeError):
    """Another `egress run` is processing this lake."""


def lake_store(settings: Settings) -> Store:
    if settings.profile == "aws":
        return S3Store(settings.lake_bucket or settings.raw_bucket, settings.lake_prefix)
    return LocalStore(settings.lake_root())


def read_state(store: Store, key: str) -> dict[str, Any]:
    try:
        if not store.exists(key):
            return {}
        doc = json.loads(store.read(key))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def write_state(store: Store, key: str, doc: dict[str, Any]) -> None:
    store.write(key, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())


def recorded_partitions_start(settings: Settings) -> str | None:
    try:
        start = read_state(lake_store(settings), PARTITIONS_KEY).get("start")
    except Exception:  # no credentials or bucket yet: fall back to the default start
        return None
    return str(start) if start else None


def holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _busy(lake: str, doc: dict[str, Any]) -> LakeBusy:
    who = f"pid {doc.get('pid', '?')} on {doc.get('host', '?')} since {doc.get('since', '?')}"
    return LakeBusy(
        f"another `egress run` ({who}) is processing the lake {lake}; wait for it to finish "
        "(two runs of the same partitions would overwrite each other)"
    )


@contextlib.contextmanager
def lake_lock(store: Store) -> Iterator[None]:
    """Hold the lake for one `egress run`, or raise ``LakeBusy``.

    Local: an exclusive ``flock`` on ``state/run.lock``, which the kernel releases when the
    process ends, killed or not, so no lock is ever stale. S3: the lock object is created with
    ``If-None-Match: *`` (only one writer can create it) and holds a lease; a lock whose lease
    ran out was left by a killed run and is taken over.
    """
    if isinstance(store, LocalStore):
        path = Path(store.uri(LOCK_KEY))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise _busy(str(store.root), _parse(handle.read())) from None
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(holder()))
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if isinstance(store, S3Store):
        with _s3_lock(store):
            yield
        return
    yield  # a store of another kind (a test's): nothing to share it with


@contextlib.contextmanager
def _s3_lock(store: S3Store) -> Iterator[None]:
    mine = holder() | {
        "expires": (datetime.now(UTC) + S3_LOCK_LEASE).strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    for _ in range(2):
        if store.create(LOCK_KEY, json.dumps(mine).encode()):
            break
        doc = _parse(store.read(LOCK_KEY).decode(errors="replace"))
        if str(doc.get("expires", "")) > mine["since"]:
            raise _busy(store.uri(""), doc)
        store.delete(LOCK_KEY)  # the lease ran out: its run was killed
    else:
        raise _busy(store.uri(""), {})
    try:
        yield
    finally:
        store.delete(LOCK_KEY)


def _parse(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
