"""The ``sql`` resource: the lake's tables and views, DuckDB locally and Athena on AWS."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl
from dagster import ConfigurableResource

from egress_platform.lake_layout import zone_of
from egress_platform.sql import TABLES, VIEW_NAMES, create_view_statement, view_sql


class LakeSql(ConfigurableResource):
    def create_views(self) -> list[str]:
        raise NotImplementedError

    def query(self, sql: str) -> pl.DataFrame:
        raise NotImplementedError

    def view(self, name: str, limit: int | None = None) -> pl.DataFrame:
        if name not in VIEW_NAMES:
            raise ValueError(f"unknown view {name!r}; views: {', '.join(VIEW_NAMES)}")
        return self.query(f"SELECT * FROM {name}" + (f" LIMIT {int(limit)}" if limit else ""))


class DuckDbSql(LakeSql):
    """DuckDB over the local lake's Parquet: tables are views over each asset's partitions."""

    lake_root: str

    def _connect(self) -> Any:
        import duckdb

        con = duckdb.connect()
        for table in TABLES:
            folder = Path(self.lake_root) / zone_of(table) / table
            if any(folder.glob("partition=*/*.parquet")):
                glob = _quoted(str(folder / "partition=*" / "*.parquet"))
                con.execute(
                    f"CREATE VIEW {table} AS "
                    f"SELECT * FROM read_parquet('{glob}', union_by_name = true)"
                )
        if "egress_flows_hourly" in _tables(con):
            for name in VIEW_NAMES:
                con.execute(create_view_statement(name))
        return con

    def create_views(self) -> list[str]:
        con = self._connect()
        return sorted(_tables(con) & set(VIEW_NAMES))

    def query(self, sql: str) -> pl.DataFrame:
        con = self._connect()
        frame: pl.DataFrame = con.sql(sql).pl()
        return frame


def _tables(con: Any) -> set[str]:
    return {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }


def _quoted(path: str) -> str:
    """A lake path inside a SQL string literal (paths are ours, but quote them anyway)."""
    return path.replace("'", "''")


class AthenaSql(LakeSql):
    """Athena over the Glue Data Catalog: named queries per view, views created in the database."""

    database: str
    workgroup: str = "primary"
    output_location: str = ""
    region_name: str = "us-east-1"
    poll_seconds: float = 1.0
    timeout_seconds: float = 300.0

    def _client(self) -> Any:
        import boto3

        return boto3.client("athena", region_name=self.region_name)

    def create_views(self) -> list[str]:
        client = self._client()
        existing = set()
        for page in client.get_paginator("list_named_queries").paginate(WorkGroup=self.workgroup):
            for query_id in page.get("NamedQueryIds", []):
                existing.add(client.get_named_query(NamedQueryId=query_id)["NamedQuery"]["Name"])
        for name in VIEW_NAMES:
            if name not in existing:
                client.create_named_query(
                    Name=name,
                    Database=self.database,
                    QueryString=view_sql(name),
                    Description=f"egress view {name}",
                    WorkGroup=self.workgroup,
                )
            self._run(client, create_view_statement(name))
        return list(VIEW_NAMES)

    def query(self, sql: str) -> pl.DataFrame:
        client = self._client()
        execution_id = self._run(client, sql)
        rows: list[list[str | None]] = []
        header: list[str] = []
        for page in client.get_paginator("get_query_results").paginate(
            QueryExecutionId=execution_id
        ):
            for row in page["ResultSet"]["Rows"]:
                values = [d.get("VarCharValue") for d in row["Data"]]
                if not header:
                    header = [v or f"col{i}" for i, v in enumerate(values)]
                    continue
                rows.append(values)
        return pl.DataFrame(rows, schema=header, orient="row") if header else pl.DataFrame()

    def _run(self, client: Any, sql: str) -> str:
        params: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
        }
        if self.output_location:
            params["ResultConfiguration"] = {"OutputLocation": self.output_location}
        execution_id: str = client.start_query_execution(**params)["QueryExecutionId"]
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            status = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"][
                "Status"
            ]
            state = status["State"]
            if state == "SUCCEEDED":
                return execution_id
            if state in ("FAILED", "CANCELLED"):
                raise RuntimeError(
                    f"Athena query {execution_id} {state}: {status.get('StateChangeReason', '')}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Athena query {execution_id} still {state} after {self.timeout_seconds}s"
                )
            time.sleep(self.poll_seconds)
