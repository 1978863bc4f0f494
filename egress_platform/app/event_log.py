"""Dagster's SQLite event log with its connections kept open: the instance `egress run` and
`make dev` share (``<lake>/.dagster``).

Dagster's own ``SqliteEventLogStorage`` builds a SQLAlchemy engine, opens a connection and
fsyncs twice for every event (the run's shard, then the cross-run index), and recompiles its
statements each time because the compiled cache lives on the engine it just threw away. A
partition's materialization is such an event, so on hourly assets this bookkeeping cost more
than the work: a no-op asset over 504 hourly partitions took 9.0 s, 1.7 s with this class
(2026-12-08, 2 cores; `make demo` 295 s -> 159 s with nothing else changed). Here each shard
keeps one engine with
one connection (used under the storage's lock, as Dagster's own connections are), a table once
seen is not looked up again, and commits use SQLite's ``synchronous=NORMAL`` in WAL mode: the
database stays consistent on a crash; a power cut may lose the last events (Dagit then shows
those partitions as not materialized until they run again; the lake's files and `egress run`'s
record of what it processed are written apart from it and unaffected).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

OPEN_RUN_SHARDS = 4  # run databases kept open besides the index (a run writes only its own)


class HeldSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with an engine and connection held per shard."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: Any, config_value: dict[str, Any]
    ) -> HeldSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,  # one connection, only ever used under self._db_lock
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _normal_sync)
        self._engines[shard] = engine
        runs = [s for s in self._engines if s != INDEX_SHARD_NAME]
        for old in runs[:-OPEN_RUN_SHARDS]:
            self._engines.pop(old).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables:
            return True
        found = super().has_table(table_name)  # its own connection: callers hold the lock
        if found:  # tables are added by migrations, never dropped
            self._tables.add(table_name)
        return found

    def _close_all(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._close_all()  # Dagster deletes the run databases' files next
        super().wipe()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()


def _normal_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def instance_settings(home: str) -> str:
    """The ``dagster.yaml`` of a Dagster home `egress` made: no telemetry, this event log."""
    return (
        f"{INSTANCE_MARK}\n"
        "telemetry:\n"
        "  enabled: false\n"
        "event_log_storage:\n"
        f"  module: {__name__}\n"
        f"  class: {HeldSqliteEventLogStorage.__name__}\n"
        "  config:\n"
        f"    base_dir: {home.rstrip('/')}/history/runs/\n"
    )


INSTANCE_MARK = "# written by egress; delete this line to keep edits of your own"
EARLIER_SETTINGS = "telemetry:\n  enabled: false\n"  # what egress wrote before this storage


def ensure_instance_settings(home: Path) -> None:
    """Write ``dagster.yaml`` into a Dagster home that has none (or an empty one), and rewrite
    one egress wrote (so a moved lake's event log follows it); a user's own file is kept."""
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    current = settings.read_text() if settings.is_file() else ""
    ours = not current.strip() or current == EARLIER_SETTINGS or current.startswith(INSTANCE_MARK)
    wanted = instance_settings(str(home.resolve()))
    if ours and current != wanted:
        settings.write_text(wanted)
