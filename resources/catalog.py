"""Glue Data Catalog registration: every lake table Athena can query, with its partitions.

The lake writes Hive-style ``partition=<key>`` folders, so a table is its folder, its columns
come from the Parquet schema, and each partition is added once (re-runs are idempotent).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import polars as pl

_HIVE_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "string",
    pl.Int8: "tinyint",
    pl.Int16: "smallint",
    pl.Int32: "int",
    pl.Int64: "bigint",
    pl.UInt8: "smallint",
    pl.UInt16: "int",
    pl.UInt32: "bigint",
    pl.UInt64: "bigint",
    pl.Float32: "float",
    pl.Float64: "double",
    pl.Boolean: "boolean",
    pl.Datetime: "timestamp",
    pl.Date: "date",
}
PARQUET_SERDE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    },
}


def hive_type(dtype: pl.DataType) -> str:
    return _HIVE_TYPES.get(type(dtype), "string")


@dataclass
class GlueCatalog:
    database: str
    client: Any

    def register(self, table: str, location: str, schema: pl.Schema, partitions: list[str]) -> None:
        """Create the database and table if needed, then add the partitions that are new."""
        glue = self.client
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": self.database})
        columns = [{"Name": name, "Type": hive_type(dtype)} for name, dtype in schema.items()]
        table_input = {
            "Name": table,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
            "PartitionKeys": [{"Name": "partition", "Type": "string"}],
            "StorageDescriptor": {"Columns": columns, "Location": location, **PARQUET_SERDE},
        }
        try:
            glue.create_table(DatabaseName=self.database, TableInput=table_input)
        except glue.exceptions.AlreadyExistsException:
            glue.update_table(DatabaseName=self.database, TableInput=table_input)
        for start in range(0, len(partitions), 100):
            batch = partitions[start : start + 100]
            glue.batch_create_partition(
                DatabaseName=self.database,
                TableName=table,
                PartitionInputList=[
                    {
                        "Values": [value],
                        "StorageDescriptor": {
                            "Columns": columns,
                            "Location": f"{location.rstrip('/')}/partition={value}/",
                            **PARQUET_SERDE,
                        },
                    }
                    for value in batch
                ],
            )  # existing partitions come back in "Errors" as AlreadyExists: nothing to do
