"""What `egress run` records in the lake between runs: the partition start and the landing index.

``state/partitions.json`` holds the first landed day (the partitions start there);
``state/landing_index.json`` the digest of every source partition's landed objects as of the last
successful run, so the next run knows what is new or changed. Both are written atomically.
"""

from __future__ import annotations

import json
from typing import Any

from egress_platform.settings import Settings
from egress_platform.store import Store
from resources.storage import LocalStore, S3Store

PARTITIONS_KEY = "state/partitions.json"
LANDING_INDEX_KEY = "state/landing_index.json"


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
