"""The ``etl`` resource: where the flow classification (the Glue job's work) runs.

Both read the raw zone's per-hour shape sums (``raw_vpc_flow_logs``: one pass over the landed
objects, each record once) and orient, classify and aggregate them. Local: polars in-process. AWS: the PySpark Glue job
(``egress_platform/glue/flows_job.py``) launched through dagster-aws Pipes, reading and writing
the lake bucket; its output is read back so the asset stores it like any other partition.
Both return the same frame (``CLASSIFIED_SCHEMA`` plus a ``partition`` column).
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import polars as pl
from dagster import AssetExecutionContext, ConfigurableResource

from egress_platform.etl.processed import classified_shapes
from egress_platform.lake_layout import PARTITION, PROCESSED_ZONE, RAW_ZONE, partition_path
from egress_platform.network.classify import CLASSIFIED_SCHEMA
from egress_platform.network.ip_ranges import IpRanges
from egress_platform.network.topology import NetworkMetadata
from resources.lake import LakeIOManager

RAW_FLOWS = "raw_vpc_flow_logs"
CONFIG = "processed_config_items"


class FlowEtl(ConfigurableResource):
    def classify_flows(
        self,
        context: AssetExecutionContext,
        lake: LakeIOManager,
        partitions: list[str],
        config_days: list[str],
        ip_ranges: IpRanges | None,
        ip_ranges_source: str,
    ) -> pl.DataFrame:
        raise NotImplementedError


class PolarsEtl(FlowEtl):
    """In-process polars: the local profile."""

    def classify_flows(
        self,
        context: AssetExecutionContext,
        lake: LakeIOManager,
        partitions: list[str],
        config_days: list[str],
        ip_ranges: IpRanges | None,
        ip_ranges_source: str,
    ) -> pl.DataFrame:
        network = NetworkMetadata.from_config_items(lake.read_frame(CONFIG, config_days))
        if network.empty:
            context.log.warning(
                "no Config network metadata for these days: in-VPC destinations cannot be "
                "placed in AZs and NAT routes are unknown; materialize processed_config_items"
            )
        frames = [
            lake.read_partitions(RAW_FLOWS, [key]).with_columns(pl.lit(key).alias(PARTITION))
            for key in partitions
        ]
        if not frames:
            return pl.DataFrame(schema={**CLASSIFIED_SCHEMA, PARTITION: pl.String()})
        shapes = pl.concat(frames, how="vertical_relaxed")
        return classified_shapes(shapes, network, ip_ranges, keep=(PARTITION,))


class GlueEtl(FlowEtl):
    """The PySpark Glue job through ``PipesGlueClient``: the aws profile."""

    job_name: str
    region_name: str = "us-east-1"
    output_prefix: str = "_glue_output"

    def classify_flows(
        self,
        context: AssetExecutionContext,
        lake: LakeIOManager,
        partitions: list[str],
        config_days: list[str],
        ip_ranges: IpRanges | None,
        ip_ranges_source: str,
    ) -> pl.DataFrame:
        import boto3
        from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector, PipesS3MessageReader

        store = lake.store()
        bucket = getattr(store, "bucket", "")
        output_key = f"{PROCESSED_ZONE}/{self.output_prefix}/{uuid.uuid4().hex}"
        arguments = {
            "--raw_paths": ",".join(
                store.uri(partition_path(RAW_ZONE, RAW_FLOWS, k)) for k in partitions
            ),
            "--partitions": ",".join(partitions),
            "--config_paths": ",".join(
                store.uri(partition_path(PROCESSED_ZONE, CONFIG, d))
                for d in config_days
                if store.exists(partition_path(PROCESSED_ZONE, CONFIG, d))
            ),
            "--ip_ranges": ip_ranges_source,
            "--output_path": store.uri(output_key),
        }
        s3 = boto3.client("s3", region_name=self.region_name)
        client = PipesGlueClient(
            client=boto3.client("glue", region_name=self.region_name),
            context_injector=PipesS3ContextInjector(client=s3, bucket=bucket),
            message_reader=PipesS3MessageReader(client=s3, bucket=bucket),
        )
        invocation = client.run(
            context=context,
            start_job_run_params={"JobName": self.job_name, "Arguments": arguments},
        )
        context.log.info(f"Glue job {self.job_name} finished: {invocation}")
        return self._read_output(store, output_key)

    def _read_output(self, store: Any, output_key: str) -> pl.DataFrame:
        files = [k for k, _ in store.list(output_key) if k.endswith(".parquet")]
        if not files:
            raise RuntimeError(
                f"Glue job {self.job_name} wrote no Parquet under {store.uri(output_key)}; "
                "check the job run's logs in CloudWatch (/aws-glue/jobs/error)"
            )
        frames = [pl.read_parquet(io.BytesIO(store.read(k))) for k in files]
        schema = {**CLASSIFIED_SCHEMA, PARTITION: pl.String()}
        return pl.concat(frames, how="vertical_relaxed").select(
            [pl.col(c).cast(t) for c, t in schema.items()]
        )
