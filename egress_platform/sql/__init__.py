"""The Athena side: views as ``.sql`` files, run by DuckDB locally and by Athena on AWS.

Each file holds one SELECT in the SQL both engines speak (Trino and DuckDB); the ``sql``
resource wraps it in ``CREATE OR REPLACE VIEW <file name> AS ...``.
"""

from __future__ import annotations

from importlib import resources

VIEW_NAMES = (
    "egress_by_destination_class",
    "top_talkers",
    "nat_traffic_to_aws_services",
    "cross_az_pairs",
)
TABLES = ("egress_flows_hourly", "cost_reconciliation", "processed_vpc_flow_logs")


def view_sql(name: str) -> str:
    """The SELECT of view ``name``."""
    if name not in VIEW_NAMES:
        raise ValueError(f"unknown view {name!r}; views: {', '.join(VIEW_NAMES)}")
    return resources.files(__package__).joinpath(f"{name}.sql").read_text().strip().rstrip(";")


def create_view_statement(name: str) -> str:
    return f"CREATE OR REPLACE VIEW {name} AS\n{view_sql(name)}"
